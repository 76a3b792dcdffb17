import { useEffect, useRef, type ReactNode } from 'react';
import { useLocation } from 'react-router';
import { useSession } from '../auth';

/**
 * The page's `<h1>`. It takes the focus when the path changes, so keyboard and
 * screen-reader users start at the new page's title, and it sets the document title.
 */
export function PageHeading({ title, children }: { title: string; children?: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const { pathname } = useLocation();
  const gateway = useSession().me?.gateway.name ?? 'Drover';
  useEffect(() => {
    document.title = `${title} · ${gateway}`;
  }, [title, gateway]);
  useEffect(() => {
    heading.current?.focus();
  }, [pathname]);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {children ?? title}
    </h1>
  );
}
