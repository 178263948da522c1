/** S3 object-created on the uploads bucket (raw/): hash the raw list server-side, then delete it. */
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { domainLogger, useCaseContext } from '../shared/adapters/runtime.ts';
import { hashRawList } from '../shared/use-cases/lists.ts';

const logger = domainLogger();

/** S3 event keys are URL-encoded, spaces as '+'. */
const s3Key = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

export const handler = async (event: unknown): Promise<void> => {
  const { Records } = S3Schema.parse(event);
  for (const record of Records) {
    const status = await hashRawList(useCaseContext(), s3Key(record.s3.object.key));
    logger.info('raw list: event handled', { status });
  }
};
