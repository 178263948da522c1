// dynalite in a child process of the embedded stack, so DynamoDB work runs on its own core.
// Reports its port to the parent over IPC and exits when the parent goes away.
import dynalite from 'dynalite';

const path = process.argv[2] || undefined;
const server = dynalite({ ...(path ? { path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('disconnect', () => server.close(() => process.exit(0)));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
