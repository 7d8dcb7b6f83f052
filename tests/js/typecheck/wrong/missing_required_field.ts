// expect: TS2345 Property 'id' is missing
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.get.query({});
