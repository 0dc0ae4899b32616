/** Tracks an element's content width, so the grid can pick its column count. */
import { useEffect, useState, type RefObject } from 'react';

/** The element's current content width in CSS pixels (0 until measured). */
export function useElementWidth(ref: RefObject<HTMLElement | null>): number {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    // ResizeObserver reports once right after observe(), so no separate first measurement.
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.floor(entry.contentRect.width));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}
