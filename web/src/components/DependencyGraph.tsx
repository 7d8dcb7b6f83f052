// A task's dependency chain as a graph: the tasks it depends on (left), those depending on it
// (right), each a node coloured by status that opens the task.
import { useLocation } from 'wouter';
import type { Client } from '../api';
import type { Task } from '../errands';

const MAX_NODES = 40;
const W = 180;
const H = 40;
const GAP_X = 44;
const GAP_Y = 12;

export interface Chain { nodes: Map<string, { task: Task; level: number }>; edges: [string, string][] }

/** Walk up (dependsOn, tasks.get) and down (tasks.list dependsOn) from `root`. */
export async function loadChain(client: Client, root: Task): Promise<Chain> {
  const nodes = new Map<string, { task: Task; level: number }>([[root.id, { task: root, level: 0 }]]);
  const edges = new Set<string>();
  let up: Task[] = [root];
  while (up.length && nodes.size < MAX_NODES) {
    const next: Task[] = [];
    for (const task of up) {
      const level = nodes.get(task.id)!.level - 1;
      for (const id of task.dependsOn) {
        edges.add(`${id} ${task.id}`);
        if (nodes.has(id) || nodes.size >= MAX_NODES) continue;
        const dep = await client.tasks.get.query({ id });
        nodes.set(id, { task: dep, level });
        next.push(dep);
      }
    }
    up = next;
  }
  let down: Task[] = [root];
  while (down.length && nodes.size < MAX_NODES) {
    const next: Task[] = [];
    for (const task of down) {
      const level = nodes.get(task.id)!.level + 1;
      const page = await client.tasks.list.query({ dependsOn: task.id, limit: 50 });
      for (const child of page.items) {
        edges.add(`${task.id} ${child.id}`);
        if (nodes.has(child.id) || nodes.size >= MAX_NODES) continue;
        nodes.set(child.id, { task: child, level });
        next.push(child);
      }
    }
    down = next;
  }
  return {
    nodes,
    edges: [...edges].map((e) => e.split(' ') as [string, string]).filter(([a, b]) => nodes.has(a) && nodes.has(b)),
  };
}

const FILL: Record<string, [string, string]> = {
  completed: ['#d8f3e3', '#11522d'], failed: ['#fde0dc', '#8c2114'], rejected: ['#fde0dc', '#8c2114'],
  in_progress: ['#dde7ff', '#1c3a99'], queued: ['#dcecf8', '#154d73'], awaiting_review: ['#ffeccc', '#6e4700'],
  scheduled: ['#ebe3fb', '#4a2796'], pending: ['#eceef3', '#3b4356'], cancelled: ['#e6e8ee', '#454c5c'],
};

export function DependencyGraph(props: { chain: Chain; current: string }) {
  const [, navigate] = useLocation();
  const { nodes, edges } = props.chain;
  const levels = [...new Set([...nodes.values()].map((n) => n.level))].sort((a, b) => a - b);
  const columns = levels.map((l) => [...nodes.values()].filter((n) => n.level === l));
  const rows = Math.max(...columns.map((c) => c.length));
  // on a narrow screen the chain runs top to bottom, so that nodes keep a readable size
  const vertical = window.innerWidth < 700;
  const place = new Map<string, { x: number; y: number }>();
  columns.forEach((col, ci) => col.forEach((n, ri) => {
    if (vertical) {
      const offset = ((rows - col.length) * (W + GAP_Y)) / 2;
      place.set(n.task.id, { x: offset + ri * (W + GAP_Y), y: ci * (H + GAP_X) });
    } else {
      const offset = ((rows - col.length) * (H + GAP_Y)) / 2;
      place.set(n.task.id, { x: ci * (W + GAP_X), y: offset + ri * (H + GAP_Y) });
    }
  }));
  const width = vertical ? rows * (W + GAP_Y) - GAP_Y : columns.length * (W + GAP_X) - GAP_X;
  const height = vertical ? columns.length * (H + GAP_X) - GAP_X : rows * (H + GAP_Y) - GAP_Y;
  const edge = (a: { x: number; y: number }, b: { x: number; y: number }) => {
    if (vertical) {
      const [x1, y1, x2, y2] = [a.x + W / 2, a.y + H, b.x + W / 2, b.y];
      return `M${x1},${y1} C${x1},${y1 + GAP_X / 2} ${x2},${y2 - GAP_X / 2} ${x2},${y2}`;
    }
    const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    return `M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}`;
  };
  return (
    <div className="graph">
      <svg viewBox={`-2 -2 ${width + 4} ${height + 4}`} width={width + 4} role="group" aria-label="Dependency graph">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#8a93a8" />
          </marker>
        </defs>
        {edges.map(([a, b]) => {
          return <path key={`${a}-${b}`} d={edge(place.get(a)!, place.get(b)!)}
            fill="none" stroke="#8a93a8" strokeWidth={1.5} aria-hidden="true" markerEnd="url(#arrow)" />;
        })}
        {[...nodes.values()].map(({ task }) => {
          const p = place.get(task.id)!;
          const [bg, ink] = FILL[task.status] ?? FILL.pending;
          const label = task.title.length > 22 ? `${task.title.slice(0, 21)}…` : task.title;
          return (
            <a key={task.id} href={`/tasks/${task.id}`} data-node={task.id}
              aria-current={task.id === props.current ? 'page' : undefined}
              onClick={(e) => { e.preventDefault(); navigate(`/tasks/${task.id}`); }}>
              <rect x={p.x} y={p.y} width={W} height={H} rx={7} fill={bg}
                stroke={task.id === props.current ? '#2f5bd3' : ink} strokeWidth={task.id === props.current ? 3 : 1} />
              <text x={p.x + 10} y={p.y + 17} fill={ink} fontWeight={600} fontSize={13}>{label}</text>
              <text x={p.x + 10} y={p.y + 32} fill={ink} fontSize={12}>{task.status.replace(/_/g, ' ')}</text>
            </a>
          );
        })}
      </svg>
    </div>
  );
}
