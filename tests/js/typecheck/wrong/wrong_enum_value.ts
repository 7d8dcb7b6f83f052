// expect: TS2322 Type '"done"' is not assignable
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
void errands.tasks.list.query({ status: 'done' });
