/** S3 object-created on the partner drops bucket (audiences/): ingest the members file. */
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { domainLogger, useCaseContext } from '../shared/adapters/runtime.ts';
import { objectKeyOf } from '../shared/adapters/s3/event-key.ts';
import { ingestDrop } from '../shared/use-cases/partners.ts';

const logger = domainLogger();

export const handler = async (event: unknown): Promise<void> => {
  const { Records } = S3Schema.parse(event);
  for (const record of Records) {
    const status = await ingestDrop(useCaseContext(), objectKeyOf(record.s3.object.key));
    logger.info('ingest: event handled', { status });
  }
};
