// expect: TS2551 Property 'statuz' does not exist
import { makeClient } from './sample_client';
const errands = makeClient('http://127.0.0.1:1/trpc', 'key');
errands.tasks.onChange.subscribe({ id: 't_1' }, {
  onData: (event) => console.log(event.id, event.data.task.statuz),
});
