"use strict";

const fs = require("fs");
const path = require("path");

const LOCK_NAME = ".pcc.lock";

function lockPath(root) {
  return path.join(root, LOCK_NAME);
}

function acquire(root, owner) {
  const file = lockPath(root);
  try {
    fs.writeFileSync(file, JSON.stringify({ owner, at: Date.now() }), { flag: "wx" });
    return true;
  } catch (err) {
    if (err.code === "EEXIST") {
      return false;
    }
    throw err;
  }
}

function release(root) {
  fs.rmSync(lockPath(root), { force: true });
}

module.exports = { acquire, release, lockPath };
