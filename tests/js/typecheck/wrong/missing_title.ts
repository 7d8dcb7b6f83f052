// expect: TS2345 Property 'title' is missing
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.create.mutate({ taskType: 'notification', executionConfig: { message: 'm' } });
