"""browser.py — headless Chromium (Debian `chromium`, driven by `chromium-driver` through
Debian's python3-selenium) for the tests: what a visitor sees of a page, and a click.
Run with the system Python (/usr/bin/python3), which has python3-selenium:

    browser.py page URL PNG    prints JSON {title, text, links, mailtos}; screenshot to PNG
    browser.py click URL PNG   loads URL, clicks its first button like a visitor, waits for the
                               next page; prints JSON {before, after, url}; screenshot to PNG

Chromium starts with a fresh profile and without its background network traffic (this
machine's network is closed; only 127.0.0.1 is used), and is always quit."""
import json, shutil, sys, tempfile, time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def start():
    profile = tempfile.mkdtemp(prefix="bidmail-chromium-")
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-quic", "--window-size=1200,900",
              "--user-data-dir=" + profile):
        o.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=o)
    driver.set_page_load_timeout(30)
    return driver, profile


def main():
    what, url, png = sys.argv[1], sys.argv[2], sys.argv[3]
    driver, profile = start()
    try:
        driver.get(url)
        if what == "page":
            links = [a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")]
            out = {"title": driver.title, "text": driver.find_element(By.TAG_NAME, "body").text,
                   "links": [l for l in links if l and not l.startswith("mailto:")],
                   "mailtos": [l for l in links if l and l.startswith("mailto:")]}
            driver.save_screenshot(png)
        elif what == "click":
            before = driver.find_element(By.TAG_NAME, "body").text
            old = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(By.TAG_NAME, "button").click()
            deadline = time.time() + 20
            while time.time() < deadline:  # the form's answer replaces the page
                try:
                    old.tag_name
                except Exception:
                    break
                time.sleep(0.1)
            after = driver.find_element(By.TAG_NAME, "body").text
            out = {"before": before, "after": after, "url": driver.current_url}
            driver.save_screenshot(png)
        else:
            raise SystemExit("usage: browser.py page|click URL PNG")
        print(json.dumps(out))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
