"use strict";

// The progress bar of `arkor models pull`: it draws what the native install
// reports ({ phase, bytesDone, bytesTotal }). The download's total is the size
// of the wheels as published, raised by the native side if more arrives.

const MB = 1024 * 1024;

/**
 * Runs `install(onProgress)`, drawing a bar on `stream` from the download
 * reports it passes to `onProgress`. Resolves what `install` resolves.
 */
async function withDownloadBar(install, { stream = process.stderr } = {}) {
  const cliProgress = require("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "Downloading {bar} {percentage}% | {done}/{all} MB | {speed} MB/s",
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      fps: 10,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const fmt = (b) => (b / MB).toFixed(1);
  const started = Date.now();
  let total = 0;
  let done = 0;
  const onProgress = ({ phase, bytesDone, bytesTotal }) => {
    if (phase !== "download") {
      // Past the download: show it complete.
      if (done < total) bar.update(total, { done: fmt(total), all: fmt(total) });
      done = total;
      return;
    }
    if (total === 0) bar.start(bytesTotal, 0, { done: fmt(0), all: fmt(bytesTotal), speed: "0.0" });
    else if (bytesTotal !== total) bar.setTotal(bytesTotal);
    total = bytesTotal;
    done = bytesDone;
    const secs = Math.max((Date.now() - started) / 1000, 1e-3);
    bar.update(done, { done: fmt(done), all: fmt(total), speed: (done / MB / secs).toFixed(1) });
  };
  try {
    return await install(onProgress);
  } finally {
    bar.stop();
  }
}

module.exports = { withDownloadBar };
