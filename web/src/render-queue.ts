/**
 * Redraws parts of the page at most once per turn of the event loop: many client events
 * in a row ask for the same part, and the page is drawn once after them.
 */

export type Part = 'banner' | 'list' | 'chat';

/** The parts in the order they are drawn. */
const ORDER: readonly Part[] = ['banner', 'list', 'chat'];

export class RenderQueue {
  private readonly dirty = new Set<Part>();
  private flushing = false;

  constructor(private readonly renderers: Record<Part, () => void>) {}

  /** Draws these parts again in a microtask, together with any others asked for by then. */
  schedule(...parts: Part[]): void {
    for (const part of parts) this.dirty.add(part);
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      const now = [...this.dirty];
      this.dirty.clear();
      for (const part of ORDER) if (now.includes(part)) this.renderers[part]();
    });
  }
}
