/**
 * A vehicle's bounded store-and-forward buffer, like a telematics unit's
 * flash ring: readings wait here while the link is down (and while earlier
 * ones are in flight). When full, the oldest reading is overwritten and
 * counted, as real units do; order is always preserved.
 */
export class Backlog<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  /** Readings overwritten because the buffer was full. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`buffer capacity must be an integer ≥ 1, got ${capacity}`);
    // Grown on demand: 10,000 vehicles × 3,600 slots up front would be 36 M slots for buffers that are mostly empty.
    this.items = new Array<T | undefined>(Math.min(capacity, 16));
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.capacity) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.count--;
      this.dropped++;
    } else if (this.count === this.items.length) {
      this.grow();
    }
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** Removes and returns up to n readings from the front, oldest first. */
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.count > 0) {
      out.push(this.items[this.head] as T);
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.count--;
    }
    return out;
  }

  /** Puts readings back at the front, in their order (a publish that failed goes out again first). Overflow drops the oldest. */
  unshift(items: readonly T[]): void {
    const rest = this.take(this.count);
    const all = [...items, ...rest];
    const keep = all.length > this.capacity ? all.slice(all.length - this.capacity) : all;
    this.dropped += all.length - keep.length;
    for (const x of keep) this.push(x);
  }

  private grow(): void {
    const size = Math.min(this.capacity, this.items.length * 2);
    const next = new Array<T | undefined>(size);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
