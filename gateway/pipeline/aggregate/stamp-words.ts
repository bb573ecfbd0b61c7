/**
 * A grow-only buffer of 32-bit words that binary checkpoints write the
 * windows' timestamps into (Window.writeStampWords). It is kept from one
 * checkpoint to the next: a fresh 16 MB array per checkpoint at a million
 * series counted as external memory and brought full mark-compacts of the
 * whole heap (300–400 ms) into the checkpoint. Backed by a
 * SharedArrayBuffer: the journal's writer thread stores the bytes from it
 * as they are (no copy, no transfer).
 */
export class WordWriter {
  words: Int32Array;
  /** Words written. */
  length = 0;

  constructor(initialWords = 1024) {
    this.words = shared(initialWords);
  }

  /** The array, with room for `n` more words after `length` (grown by half again when short). */
  reserve(n: number): Int32Array {
    const need = this.length + n;
    if (need > this.words.length) {
      const bigger = shared(Math.max(need, Math.ceil(this.words.length * 1.5)));
      bigger.set(this.words.subarray(0, this.length));
      this.words = bigger;
    }
    return this.words;
  }

  /** Goes back to `to` words (what a failed write added is dropped); returns -1 for the caller's "did not pack". */
  rewind(to: number): -1 {
    this.length = to;
    return -1;
  }

  /** Starts again from nothing; gives a buffer back that is more than 4 times what the last use needed (the state shrank). */
  reset(lastUsedWords: number): void {
    this.length = 0;
    if (this.words.length > 1 << 16 && this.words.length > 4 * lastUsedWords) this.words = shared(Math.max(1024, Math.ceil(lastUsedWords * 1.5)));
  }
}

function shared(words: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * words));
}
