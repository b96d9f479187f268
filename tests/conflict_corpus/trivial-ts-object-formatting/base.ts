import { readFile } from "fs/promises";

export interface ClientOptions {
  baseUrl: string;
  timeoutMs: number;
  retries: number;
  userAgent: string;
}

const DEFAULTS: ClientOptions = {baseUrl:"http://localhost:7070",timeoutMs:5000,retries:2,userAgent:"pcc-client"};

export async function loadOptions(path?: string): Promise<ClientOptions> {
  if (!path) {
    return { ...DEFAULTS };
  }
  const raw = await readFile(path, "utf8");
  const parsed = JSON.parse(raw) as Partial<ClientOptions>;
  return { ...DEFAULTS, ...parsed };
}

export function describe(options: ClientOptions): string {
  return `${options.baseUrl} (timeout ${options.timeoutMs}ms, ${options.retries} retries)`;
}
