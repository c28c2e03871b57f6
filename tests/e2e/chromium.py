"""Headless Chromium through Debian's chromedriver, as every browser test here starts it."""

import tempfile

from selenium import webdriver


def browser(window="1400,2200"):
    """A fresh headless Chromium (its own profile directory), sandbox off for containers."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--window-size={window}", f"--user-data-dir={tempfile.mkdtemp()}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)
