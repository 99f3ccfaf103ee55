// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core: open each page of
// GS_PAGES, wait for its script to set window.result, print {url: result} as one JSON line.
import { chromium } from "playwright-core";

const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const pages = JSON.parse(process.env.GS_PAGES);
// launch() gives the browser a fresh, temporary --user-data-dir and --headless
const browser = await chromium.launch({
  executablePath: process.env.GS_CHROMIUM ?? "/usr/bin/chromium", headless: true, args: FLAGS,
});
const results = {};
try {
  for (const url of pages) {
    const page = await browser.newPage();
    const console = [];
    page.on("console", (m) => console.push(m.text()));
    await page.goto(url);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 20000 });
    results[url] = { ...(await page.evaluate(() => window.result)), console };
    await page.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results) + "\n");
