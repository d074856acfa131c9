"""Summarises a py-spy `--format raw --threads` profile: where the gateway's CPU goes, as Markdown.

Run alone: `python -m bench.profile_top bench/results/profile-raw.txt`.
"""

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

PROJECT = ("proxy", "gateway_project", "accounts", "keys", "pricing", "usage", "manage.py")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Frames that are in (nearly) every stack and say nothing about cost.
ROOTS = re.compile(r"threading\.py|concurrent/futures|asyncio/(runners|base_events|events)\.py|manage\.py|"
                   r"django/core/management|uvicorn/(main|server|_compat)\.py|<module>")  # fmt: skip


def _frame(text: str) -> tuple[str, str, str]:
    match = FRAME.match(text)
    if not match:
        return text, "?", ""
    return match["func"], match["file"], match["line"] or ""


def _package(file: str) -> str:
    head = file.split("/", 1)[0]
    if head in PROJECT or file.startswith(PROJECT):
        return f"project ({head})"
    if head.endswith(".py"):
        return f"stdlib ({head})"
    return head


def _thread_kind(root: str) -> str:
    name = root.split(": ", 1)[1] if ": " in root else "unnamed"
    return re.sub(r"[-_]\d+.*$", "", name)


def _table(title: str, rows: list[tuple[str, int]], total: int) -> list[str]:
    lines = [f"### {title}", "", "| % of samples | where |", "| ---: | --- |"]
    lines += [f"| {100 * n / total:.1f} | {name} |" for name, n in rows]
    return [*lines, ""]


def summarise(raw: Path, top: int = 25) -> str:
    self_pkg: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    lines_of: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    threads: Counter[str] = Counter()
    total = 0
    for record in raw.read_text().splitlines():
        stack, _, count = record.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        root, *frames = stack.split(";")
        threads[_thread_kind(root)] += n
        parsed = [_frame(f) for f in frames]
        if not parsed:
            continue
        func, file, line = parsed[-1]
        self_pkg[_package(file)] += n
        self_fn[f"`{func}` ({file}:{line})"] += n
        seen: set[tuple[str, str]] = set()
        for func, file, line in parsed:
            name = (func, file)
            if name in seen or ROOTS.search(file):
                continue
            seen.add(name)
            inclusive[name] += n
            lines_of[name][line] += n
    if not total:
        return "No samples in the profile.\n"
    ranked = inclusive.most_common(top * 3)
    with_line = [(f"`{func}` ({file}:{lines_of[func, file].most_common(1)[0][0]})", n) for (func, file), n in ranked]
    project = [
        row for row, ((_, file), _n) in zip(with_line, ranked, strict=True) if _package(file).startswith("project")
    ]
    out = [f"## Gateway profile: {total} samples (py-spy, GIL holder only)", ""]
    out += _table("By thread", threads.most_common(), total)
    out += _table("Self time by package (leaf frame)", self_pkg.most_common(12), total)
    out += _table("Inclusive time by function (line = hottest line seen)", with_line[:top], total)
    out += _table("Inclusive time, project code only", project[:top], total)
    out += _table("Self time by function and line", self_fn.most_common(15), total)
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1])))
