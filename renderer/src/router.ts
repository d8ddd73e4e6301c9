// A hash router (#/roots, #/collisions, …): works from file-less static serving and keeps
// the server out of routing. Screens register in screens/index.ts.
import { useEffect, useState } from 'preact/hooks';

export function currentRoute(): string {
  const h = location.hash.replace(/^#\/?/, '');
  return h.split(/[/?]/)[0] ?? '';
}

export function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function navigate(id: string): void {
  location.hash = `#/${id}`;
}
