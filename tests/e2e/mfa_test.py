"""A second factor turned on through its page, in a real browser (headless Chromium).

A user signs up through the API, opens /mfa, logs in there, scans (here: reads) the key the
page shows, types the code an authenticator app would show (pyotp computes it from the key),
and sees ten recovery codes. Then, through the API: a login asks for the second factor, its
token opens nothing else, and a recovery code from the page completes it.

    python mfa_test.py http://127.0.0.1:3000
"""

import json
import sys
import urllib.error
import urllib.request
import uuid

import chromium
import pyotp
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE = sys.argv[1]
WAIT = 20


def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


email, password = f"mfa-{uuid.uuid4().hex[:8]}@example.com", "a password for the page"
assert call("POST", "/signup", {"email": email, "password": password})[0] == 200

driver = chromium.browser("1000,1000")
try:
    driver.get(BASE + "/mfa")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "log-in").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "enrol").is_displayed())
    assert driver.find_elements(By.CSS_SELECTOR, "#qr svg"), "the QR code is shown"
    secret = driver.find_element(By.ID, "secret").text
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())
    driver.find_element(By.ID, "check").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "done").is_displayed())
    codes = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#codes li")]
    print("mfa page:", driver.find_element(By.ID, "status").text)
finally:
    driver.quit()

assert len(codes) == 10, codes
status, body = call("POST", "/users/login", {"email": email, "password": password})
assert status == 200 and body.get("mfaRequired") is True, body
first_step = body["token"]
status, body = call("GET", "/whoAmI", token=first_step)
assert status == 403 and body["error"]["code"] == "MFA_REQUIRED", body
status, body = call("POST", "/users/login/mfa", {"code": codes[0]}, token=first_step)
assert status == 200, body
status, _ = call("GET", "/todos", token=body["token"])
assert status == 200
print("e2e mfa: the page turned the factor on; a login needs it; a recovery code completes it")
