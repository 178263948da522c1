#!/usr/bin/env node
// The `onboard` CLI: TypeScript sources run through tsx, so `npx onboard` works right after `npm ci`.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../cli/main.ts');
