// Who is signed in (system.whoami), their client, and the live task events (tasks.onChange).
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import type { Client } from './api';
import type { Task, TaskEvent, WhoAmI } from './errands';
import { latest } from './labels';

export type Permission =
  | 'read' | 'create' | 'execute' | 'cancel' | 'retry' | 'review' | 'webhooks' | 'schedules'
  | 'admin';

export interface Session {
  key: string;
  client: Client;
  me: WhoAmI;
  can: (permission: Permission) => boolean;
  signOut: () => void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

type Listener = (event: TaskEvent) => void;
interface Events {
  add: (fn: Listener) => () => void;
  live: boolean;
  /** The task as the newest event shows it, if an event about it came after `task`. */
  freshest: (task: Task) => Task;
}
const EventsContext = createContext<Events>({
  add: () => () => undefined, live: false, freshest: (task) => task,
});
const REMEMBERED = 500; // tasks whose last event state is kept

export function SessionProvider(props: { session: Session; children: ReactNode }) {
  const { client } = props.session;
  const listeners = useRef(new Set<Listener>());
  const [live, setLive] = useState(false);
  const seen = useRef(new Map<string, Task>());
  useEffect(() => {
    const sub = client.tasks.onChange.subscribe(undefined, {
      onStarted: () => setLive(true),
      onData: (item) => {
        const task = item.data.task;
        seen.current.delete(task.id);
        seen.current.set(task.id, task);
        if (seen.current.size > REMEMBERED) seen.current.delete(seen.current.keys().next().value!);
        for (const fn of listeners.current) fn(item.data);
      },
      onError: () => setLive(false),
      onConnectionStateChange: (state) => setLive(state.state === 'pending'),
    });
    return () => sub.unsubscribe();
  }, [client]);
  const add = useCallback((fn: Listener) => {
    listeners.current.add(fn);
    return () => { listeners.current.delete(fn); };
  }, []);
  const freshest = useCallback((task: Task) => latest(task, seen.current.get(task.id) ?? task), []);
  return (
    <SessionContext.Provider value={props.session}>
      <EventsContext.Provider value={{ add, live, freshest }}>{props.children}</EventsContext.Provider>
    </SessionContext.Provider>
  );
}

/** Call `fn` for every task event while the component is mounted. */
export function useTaskEvents(fn: Listener): void {
  const { add } = useContext(EventsContext);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => add((event) => latest.current(event)), [add]);
}

export function useLive(): boolean {
  return useContext(EventsContext).live;
}

/** A mutation's answer may arrive after the live events that followed it (an attempt can end
 * within milliseconds): pass the answer through this to get the task as it is now. */
export function useFreshest(): (task: Task) => Task {
  return useContext(EventsContext).freshest;
}
