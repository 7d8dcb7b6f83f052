// expect: TS2551 Property 'craete' does not exist
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.craete.mutate({ title: 't', taskType: 'notification', executionConfig: { message: 'm' } });
