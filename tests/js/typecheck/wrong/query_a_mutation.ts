// expect: TS2339 Property 'query' does not exist
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.cancel.query({ id: 't_1' });
