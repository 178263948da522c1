/** S3 object-created on the partner drops bucket (audiences/): ingest the members file. */
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { domainLogger, useCaseContext } from '../shared/adapters/runtime.ts';
import { ingestDrop } from '../shared/use-cases/partners.ts';

const logger = domainLogger();

/** S3 event keys are URL-encoded, spaces as '+'. */
const s3Key = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

export const handler = async (event: unknown): Promise<void> => {
  const { Records } = S3Schema.parse(event);
  for (const record of Records) {
    const status = await ingestDrop(useCaseContext(), s3Key(record.s3.object.key));
    logger.info('ingest: event handled', { status });
  }
};
