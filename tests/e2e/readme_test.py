"""The README's curl walk-through, run as typed, answer by answer.

Every ```sh block of README.md with `<!-- walkthrough -->` on the line before it is taken, in
the README's order, and run in ONE bash process (`set -euo pipefail`), so variables set in one
block (`$AUTH`, `$ID`) serve the next. Before running, `http://127.0.0.1:3000` becomes the
server under test, and every `<name>@example.com` becomes `<name>-<run>@example.com`, so a
rerun against the same server signs up new users.

How a block reads (the README's editors keep to this; the test fails on anything else):

- a comment after a blank line (or at the block's start) is prose, and is not checked;
- comment lines right after a command, and a comment at the end of its last line, are the
  answer that command must give, one item per line:
    `200`, `204`, `304`, ... the status of the command's last curl (written first, may be
        followed by `, ` and one of the items below on the same line);
    `{...}` or `[...]` the body, compared as JSON; `…` stands for anything: a value, part of
        a string, more members of an object (`{"id":1,…}`), more items of a list;
    `name: value` a response header (the command uses `curl -i`);
    `no body` an empty body;
    anything else: the body as text, `…` standing for anything;
- every curl of every command must answer below 400, unless its command's answer names the
  status (which is then the last curl's).

A failure names the step, its README line and the command, with the expected and actual answer.
Also checks that every link of the README and of docs/*.md to a section or a file leads
somewhere.

Usage: readme_test.py <base-url> [README.md]
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid

README_URL = "http://127.0.0.1:3000"
WILD = "\u2026"
ANY = "\u0000any"
REST = "\u0000rest"
MARKER = re.compile(r"^<!--\s*walkthrough\b.*-->\s*$")


class Step:
    def __init__(self, line, command):
        self.line = line  # the README line the command starts on
        self.command = command  # its lines, as typed
        self.expected = []  # the items of its answer

    def first_line(self):
        return self.command[0].strip()


def fail(message):
    print(f"readme: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def scan(text):
    """Whether `text` (a command's lines so far) ends inside quotes, and its last line's code
    and trailing comment (None without one), quote-aware across lines."""
    quote = None
    escaped = False
    comment_at = None
    line_start = 0
    for i, c in enumerate(text):
        if c == "\n" and quote is None:
            line_start = i + 1
            comment_at = None
        if comment_at is not None:
            continue
        if escaped:
            escaped = False
        elif c == "\\" and quote != "'":
            escaped = True
        elif quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n"):
            comment_at = i
    last = text[line_start:] if comment_at is None else text[line_start:comment_at]
    comment = None if comment_at is None else text[comment_at + 1 :].strip()
    return quote is not None, last.rstrip(), comment


def continues(command):
    open_quote, code, _ = scan("\n".join(command))
    return open_quote or code.endswith(("\\", "|", "&&", "||"))


def blocks(readme):
    """The walk-through blocks: (line number of the first line, lines)."""
    lines = readme.split("\n")
    found = []
    for i, line in enumerate(lines):
        if not MARKER.match(line):
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```sh":
            fail(f"README line {i + 1}: a walkthrough marker must be followed by a ```sh block")
        body = []
        for j in range(i + 2, len(lines)):
            if lines[j].strip() == "```":
                break
            body.append(lines[j])
        else:
            fail(f"README line {i + 2}: the ```sh block is not closed")
        found.append((i + 3, body))
    return found


def steps_of(start, lines):
    steps = []
    current = None  # the step whose answer may follow
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            current = None
        elif stripped.startswith("#"):
            if current is not None:
                current.expected.append(stripped[1:].strip())
        else:
            step = Step(start + i, [line])
            while continues(step.command) and i + 1 < len(lines):
                i += 1
                step.command.append(lines[i])
            _, _, comment = scan("\n".join(step.command))
            if comment:
                step.expected.append(comment)
            steps.append(step)
            current = step
        i += 1
    return steps


def pattern(text):
    """A JSON pattern: bare `…` turned into placeholders, then parsed."""
    out = []
    stack = []
    in_string = escaped = False
    for c in text:
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c in "{[":
            stack.append(c)
            out.append(c)
        elif c in "}]":
            if stack:
                stack.pop()
            out.append(c)
        elif c == WILD:
            before = "".join(out).rstrip()[-1:]
            if stack and stack[-1] == "{" and before in ("{", ","):
                out.append(json.dumps(REST) + ":null")
            else:
                out.append(json.dumps(ANY))
        else:
            out.append(c)
    return json.loads("".join(out))


def text_matches(expected, actual):
    if WILD not in expected:
        return expected == actual
    regex = ".*".join(re.escape(piece) for piece in expected.split(WILD))
    return re.fullmatch(regex, actual, re.S) is not None


def matches(expected, actual):
    if expected == ANY:
        return True
    if isinstance(expected, str):
        return isinstance(actual, str) and text_matches(expected, actual)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        keys = [k for k in expected if k != REST]
        if REST not in expected and set(keys) != set(actual):
            return False
        return all(k in actual and matches(expected[k], actual[k]) for k in keys)
    if isinstance(expected, list):
        return isinstance(actual, list) and list_matches(expected, actual)
    return type(expected) is type(actual) and expected == actual


def list_matches(expected, actual):
    if not expected:
        return not actual
    if expected[0] == ANY:  # any number of items
        return any(list_matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and matches(expected[0], actual[0]) and list_matches(expected[1:], actual[1:])


def split_response(output):
    """Headers (a dict of lists, lower-case names) and body of `curl -i` output, or none."""
    if not output.startswith("HTTP/"):
        return None, output
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    headers = {}
    for line in head.split("\n")[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers, body


def check(step, output, statuses):
    """None if the step answered as the README says, else what differs."""
    expected_status = None
    items = []
    for item in step.expected:
        m = re.match(r"^([1-5]\d\d)\b[,:]?\s*(.*)$", item)
        if m:
            expected_status = int(m.group(1))
            item = m.group(2)
        if item:
            items.append(item)
    if not statuses and expected_status is not None:
        return "the command made no request, but the README shows a status"
    for k, status in enumerate(statuses):
        last = k == len(statuses) - 1
        if last and expected_status is not None:
            if status != expected_status:
                return f"expected status {expected_status}, got {status}"
        elif status >= 400 or status == 0:
            hint = (" (the rate limit of the credential routes: 60 a minute per address; use a "
                    "fresh server, or wait a minute)") if status == 429 else ""
            return f"request {k + 1} of the command answered {status}, a status the README does not show{hint}"
    headers, body = split_response(output)
    for item in items:
        if item == "no body":
            if body.strip():
                return f"expected no body, got {body.strip()!r}"
        elif item[0] in "{[":
            try:
                want = pattern(item)
            except ValueError as e:
                return f"the README's answer {item!r} is not JSON (with …): {e}"
            try:
                got = json.loads(body)
            except ValueError:
                return f"expected {item}, got a body that is not JSON: {body.strip()!r}"
            if not matches(want, got):
                return f"expected {item}\n    got {json.dumps(got, separators=(',', ':'))}"
        elif re.match(r"^[A-Za-z][A-Za-z0-9-]*: ", item):
            name, _, value = item.partition(": ")
            if headers is None:
                return f"expected the header {item!r}, but the command shows no headers (curl -i)"
            values = headers.get(name.lower(), [])
            if not any(text_matches(value, v) for v in values):
                return f"expected the header {item!r}, got {name}: {values or '(none)'}"
        elif not text_matches(item, body.strip()):
            return f"expected {item!r}, got {body.strip()!r}"
    return None


def script(steps, results):
    out = [
        "set -euo pipefail",
        # Each curl also writes its status, on stderr, to the step's file.
        "curl() { command curl \"$@\" -w '%{stderr}@@status %{http_code}\\n' "
        f'2>>"{results}/$__step.err"; }}',
    ]
    for n, step in enumerate(steps):
        out.append(f"__step={n}; : >\"{results}/{n}.err\"; echo {n} >\"{results}/started\"")
        out.append("{")
        out.extend(step.command)
        out.append(f'}} >"{results}/{n}.out"')
    out.append(f'echo done >"{results}/started"')
    return "\n".join(out) + "\n"


def check_links(root):
    """Every relative link of README.md and docs/*.md leads to a file, and every #anchor to a
    heading of its file (GitHub's anchors)."""
    def anchors(path):
        names = set()
        in_code = False
        for line in open(path, encoding="utf-8"):
            if line.startswith("```"):
                in_code = not in_code
            elif not in_code and line.startswith("#"):
                title = line.lstrip("#").strip().lower()
                title = re.sub(r"[^\w\- ]", "", title)
                names.add(title.replace(" ", "-"))
        return names

    files = [os.path.join(root, "README.md")]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        files += [os.path.join(docs, f) for f in sorted(os.listdir(docs)) if f.endswith(".md")]
    problems = []
    for path in files:
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = os.path.relpath(path, root)
            if not os.path.exists(linked):
                problems.append(f"{where}: the link ({target}) leads to no file")
            elif anchor and linked.endswith(".md") and anchor not in anchors(linked):
                problems.append(f"{where}: the link ({target}) names no heading")
    return problems


def main(base, readme_path):
    readme = open(readme_path, encoding="utf-8").read()
    found = blocks(readme)
    if not found:
        fail(f"{readme_path} marks no block with <!-- walkthrough -->")
    run = uuid.uuid4().hex[:8]

    def adapt(text):
        text = text.replace(README_URL, base.rstrip("/"))
        return re.sub(r"(?<![\w.-])([a-z][a-z0-9.]*)@example\.com\b", rf"\1-{run}@example.com", text)

    steps = []
    for start, lines in found:
        steps += steps_of(start, [adapt(line) for line in lines])
    for step in steps:
        if ":3000" in "\n".join(step.command):
            fail(f"README line {step.line}: the walk-through must name the server as {README_URL}")

    with tempfile.TemporaryDirectory() as results:
        work = os.path.join(results, "cwd")
        os.mkdir(work)
        with open(os.path.join(results, "walkthrough.sh"), "w") as f:
            f.write(script(steps, results))
        proc = subprocess.run(
            ["bash", os.path.join(results, "walkthrough.sh")],
            cwd=work, capture_output=True, text=True, timeout=300,
        )
        started = open(os.path.join(results, "started")).read().strip() if os.path.exists(
            os.path.join(results, "started")) else "0"
        ran = len(steps) if started == "done" else int(started) + 1

        def read(n, kind):
            path = os.path.join(results, f"{n}.{kind}")
            return open(path).read() if os.path.exists(path) else ""

        for n in range(ran):
            step = steps[n]
            err = read(n, "err")
            statuses = [int(s) for s in re.findall(r"^@@status (\d+)$", err, re.M)]
            noise = "\n".join(l for l in err.splitlines() if not l.startswith("@@status")).strip()
            output = read(n, "out")
            where = f"step {n + 1} (README line {step.line}: {step.first_line()})"
            if started != "done" and n == ran - 1:
                fail(f"{where} failed: bash exited with status {proc.returncode}"
                     + (f"\n    stderr: {noise}" if noise else "")
                     + (f"\n    output: {output.strip()}" if output.strip() else "")
                     + (f"\n    {proc.stderr.strip()}" if proc.stderr.strip() else ""))
            problem = check(step, output, statuses)
            if problem:
                fail(f"{where}:\n    {problem}" + (f"\n    stderr: {noise}" if noise else ""))
        if proc.returncode != 0:
            fail(f"bash exited with status {proc.returncode}: {proc.stderr.strip()}")

    problems = check_links(os.path.dirname(os.path.abspath(readme_path)))
    if problems:
        fail("broken links:\n    " + "\n    ".join(problems))
    checked = sum(1 for s in steps if s.expected)
    print(f"readme: {len(found)} walk-through blocks, {len(steps)} commands run, "
          f"{checked} answers checked against the README; links lead somewhere")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "..", "README.md"))
