"use strict";

const { execFile } = require("child_process");

const MAX_RETRIES = Number(process.env.PCC_MAX_RETRIES) || 5;
const RETRY_DELAY_MS = Number(process.env.PCC_RETRY_DELAY_MS) || 1000;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function gitPcc(args) {
  return new Promise((resolve, reject) => {
    execFile("git", ["pcc", ...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function register(sessionId) {
  let lastError;
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    try {
      return await gitPcc(["register", "--session", sessionId]);
    } catch (err) {
      lastError = err;
      await sleep(RETRY_DELAY_MS * (attempt + 1));
    }
  }
  throw lastError;
}

module.exports = { register };
