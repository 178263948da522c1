/** S3 object-created on the uploads bucket (raw/): hash the raw list server-side, then delete it. */
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { domainLogger, useCaseContext } from '../shared/adapters/runtime.ts';
import { objectKeyOf } from '../shared/adapters/s3/event-key.ts';
import { hashRawList } from '../shared/use-cases/lists.ts';

const logger = domainLogger();

export const handler = async (event: unknown): Promise<void> => {
  const { Records } = S3Schema.parse(event);
  for (const record of Records) {
    const status = await hashRawList(useCaseContext(), objectKeyOf(record.s3.object.key));
    logger.info('raw list: event handled', { status });
  }
};
