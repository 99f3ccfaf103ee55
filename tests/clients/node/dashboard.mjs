// The dashboard in headless Chromium (Debian's /usr/bin/chromium via playwright-core), as an
// operator uses it: sign in, read the overview's charts, find a suspended end user, ban one by
// clicking (with the confirmation), check the session cookie's flags and that a POST without
// the CSRF token is refused, record an incident's resolution, sign out (and see a copy of the
// cookie refused afterwards). Screenshots go to GS_SHOTS. One JSON line on stdout.
import { chromium } from "playwright-core";

const base = process.env.GS_URL;
const shots = process.env.GS_SHOTS;
const out = {};
const browser = await chromium.launch({
  executablePath: process.env.GS_CHROMIUM ?? "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  await page.goto(base + "/admin/");
  out.login_url = page.url();
  await page.getByLabel("Admin token").fill(process.env.GS_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(base + "/admin/");
  out.score = await page.locator("#score").innerText();
  out.bars = await page.locator("#charts rect.bar").evaluateAll(
    (rects) => rects.filter((r) => Number(r.getAttribute("height")) > 0).length);
  out.scroll_1366 = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: `${shots}/dashboard-overview.png`, fullPage: true });
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "gs_admin");
  out.cookie = session ? { ...session, value: session.value.length } : null;  // not the value
  // a suspended end user, found by the status filter
  await page.getByRole("link", { name: "End users" }).click();
  await page.getByLabel("Status").selectOption("suspended");
  await page.getByRole("button", { name: "Filter" }).click();
  out.suspended = await page.locator("tbody tr td:first-child").allInnerTexts();
  await page.getByRole("link", { name: "mallory", exact: true }).click();
  out.mallory_status = await page.locator("#status").innerText();
  await page.screenshot({ path: `${shots}/dashboard-end-user.png`, fullPage: true });
  // ban bob by clicking, through the confirmation
  await page.goto(base + "/admin/users?q=bob");
  await page.getByRole("link", { name: "bob", exact: true }).click();
  await page.getByRole("link", { name: "Ban", exact: true }).click();
  await page.getByLabel(/Reason/).fill("abuse seen on the dashboard");
  await page.getByRole("button", { name: "Confirm" }).click();
  out.bob_status = await page.locator("#status").innerText();
  out.bob_history = await page.locator("table").last().innerText();
  // a POST without the CSRF token, with the session's cookie (the page's own script could
  // not even try: the CSP allows no script and no fetch)
  out.forged = (await context.request.post(base + "/admin/users/alice/ban",
    { form: { reason: "forged" }, maxRedirects: 0 })).status();
  // keyboard focus is visible on links and buttons
  await page.keyboard.press("Tab");
  out.focus_outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  // phone width
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + "/admin/");
  out.scroll_390 = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: `${shots}/dashboard-overview-phone.png`, fullPage: true });
  // the moderation outage's incident: its resolution recorded by clicking, with a note
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.getByRole("link", { name: "Incidents" }).click();
  out.incident_titles = await page.locator("tbody tr td:nth-child(2)").allInnerTexts();
  const outage = () => page.locator("tbody tr", { hasText: "Moderation unavailable" });
  await outage().getByRole("link", { name: "Record resolution" }).click();
  await page.getByLabel(/What was changed/).fill("moderation key rotated by the operator");
  await page.getByRole("button", { name: "Confirm" }).click();
  out.incident_flash = await page.locator("p.flash").innerText();
  out.incident_row = await outage().innerText();
  await page.screenshot({ path: `${shots}/dashboard-incidents.png`, fullPage: true });
  // sign out
  await page.getByRole("button", { name: "Log out" }).click();
  out.after_logout = page.url();
  await page.goto(base + "/admin/users");
  out.after_logout_users = page.url();
  // a copy of the signed-out cookie, replayed from another browser, is refused
  const thief = await browser.newContext();
  await thief.addCookies([session]);
  const stolen = await thief.newPage();
  await stolen.goto(base + "/admin/");
  out.replayed = stolen.url();
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
