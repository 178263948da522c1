/** HTTP API function: every /v1 route. */
import { domainLogger, useCaseContext } from '../shared/adapters/runtime.ts';
import { createApiHandler } from '../shared/api/http-handler.ts';

export const handler = createApiHandler(useCaseContext, domainLogger());
