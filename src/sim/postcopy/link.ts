/**
 * The migration link of a post-copy live migration: the destination asks the
 * source for a page and waits for it. A fetch costs the round trip plus its
 * bytes over the link's bandwidth, and transfers queue behind each other on
 * the one link every vCPU's faults (and the background pre-fetch) share:
 *
 *   request at t -> the source starts sending at max(t + rtt/2, link free)
 *                -> the last byte leaves after bytes / bandwidth
 *                -> it arrives rtt/2 later.
 *
 * This is not a kernel cost: the parameters are the scenario's (with their
 * citation there), and the calibration test checks that they give what the
 * HGM thread reported for a 48-vCPU VM (4 KiB median < 100 µs, 2 MiB > 10 ms).
 */

export class Link {
  /** When the link finishes the transfers queued so far, ns. */
  private freeAt = 0;
  /** Bytes sent so far. */
  bytes = 0;

  constructor(
    /** Round-trip time, ns. */
    readonly rttNs: number,
    /** Bandwidth in bytes per ns (= GB/s). */
    readonly bytesPerNs: number,
  ) {
    if (!(rttNs >= 0) || !(bytesPerNs > 0)) throw new RangeError(`link: expected rtt >= 0 and bandwidth > 0, got ${rttNs} ns, ${bytesPerNs} B/ns`);
  }

  /** A fetch of `bytes` requested at t: when it has arrived, ns. */
  fetch(t: number, bytes: number): number {
    const start = Math.max(t + this.rttNs / 2, this.freeAt);
    this.freeAt = start + bytes / this.bytesPerNs;
    this.bytes += bytes;
    return this.freeAt + this.rttNs / 2;
  }
}
