"""A tiny Markdown-to-HTML converter for the bundled example (standard library only).

usage: md2html.py INPUT OUTPUT
Headings (#), paragraphs and bullet lists; anything fancier is left as text.
"""

import html
import sys


def convert(text: str) -> str:
    out: list[str] = []
    for block in text.split("\n\n"):
        lines = [line.rstrip() for line in block.strip().splitlines()]
        if not lines:
            continue
        if all(line.startswith(("- ", "* ")) for line in lines):
            out.append("<ul>" + "".join(f"<li>{html.escape(item[2:])}</li>" for item in lines) + "</ul>")
        elif lines[0].startswith("#"):
            level = min(len(lines[0]) - len(lines[0].lstrip("#")), 6)
            out.append(f"<h{level}>{html.escape(lines[0].lstrip('#').strip())}</h{level}>")
            if lines[1:]:
                out.append(f"<p>{html.escape(' '.join(lines[1:]))}</p>")
        else:
            out.append(f"<p>{html.escape(' '.join(lines))}</p>")
    return "<!doctype html>\n<html><body>\n" + "\n".join(out) + "\n</body></html>\n"


if __name__ == "__main__":
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as handle:
        text = handle.read()
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(convert(text))
