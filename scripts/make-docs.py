#!/usr/bin/python3
"""Man pages and bash completion for shelf, made from its --help: each command's options
come from its option tables (cli/), which --help prints, so neither can drift from them.

  scripts/make-docs.py SHELF OUTDIR

Writes OUTDIR/man1/shelf.1, OUTDIR/man1/shelf-COMMAND.1 (labels: shelf-labels-add.1) and
OUTDIR/completion/shelf (bash)."""
import datetime
import os
import re
import subprocess
import sys


def run(shelf, args):
    p = subprocess.run([shelf] + args, capture_output=True, text=True)
    if p.returncode != 0 and args[-1:] == ["--help"] and len(args) > 1 and "usage:" not in p.stdout:
        sys.exit("make-docs: `shelf %s` failed (exit %d): %s" % (" ".join(args), p.returncode,
                                                                 p.stderr.strip()[:300]))
    return p.stdout + p.stderr


def commands(shelf):
    """The commands the top-level --help lists, with their one-line summaries; a command
    with actions (labels add) as 'labels add'."""
    out = []
    for line in run(shelf, ["--help"]).splitlines():
        m = re.match(r"^  ([a-z]+)\s+(.*)$", line)
        if not m:
            continue
        name, what = m.groups()
        text = run(shelf, [name, "--help"])
        if re.search(r"^  --", text, re.M):
            out.append((name, what))
            continue
        for act in re.findall(r"^  ([a-z]+)\s+(.*)$", text, re.M):  # its actions' pages
            out.append(("%s %s" % (name, act[0]), act[1]))
    return out


def roff(text):
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + l if l.startswith((".", "'")) else l) for l in text.split("\n"))


def parse_help(text):
    """usage, description paragraphs, and sections of (option, argument, help)."""
    usage, desc, sections, current = "", [], [], None
    heading = []  # a section's heading may wrap over lines, the last ending with ':'
    for line in text.splitlines():
        if line.startswith("usage: "):
            usage = line[len("usage: "):]
        elif line == "(defaults in parentheses)" or not line.strip():
            heading = []
            continue
        elif re.match(r"^\S.*:$", line):
            current = (" ".join(heading + [line[:-1]]), [])
            sections.append(current)
            heading = []
        elif current is not None and not line.startswith(" "):
            heading.append(line)
        elif line.startswith("  --") and current is not None:
            heading = []
            m = re.match(r"^  (--[a-z0-9-]+)(?: (\S+))?\s+(.*)$", line)
            if m:
                current[1].append(m.groups())
        elif current is None:
            desc.append(line)
    return usage, " ".join(desc), sections


def man_page(name, summary, help_text, date):
    usage, desc, sections = parse_help(help_text)
    title = "shelf-" + name.replace(" ", "-")
    lines = ['.TH "%s" 1 "%s" "shelf" "shelf manual"' % (title.upper(), date), ".SH NAME",
             roff("%s \\- %s" % (title, summary)).replace("\\\\\\-", "\\-"), ".SH SYNOPSIS", ".B " + roff(usage)]
    if desc:
        lines += [".SH DESCRIPTION", roff(desc)]
    for head, opts in sections:
        lines.append(".SH " + roff(head.upper()))
        for opt, arg, text in opts:
            lines += [".TP", "\\fB%s\\fR%s" % (roff(opt), " \\fI%s\\fR" % roff(arg) if arg else ""), roff(text)]
    lines += [".SH SEE ALSO", "\\fBshelf\\fR(1)"]
    return "\n".join(lines) + "\n", [o for _, opts in sections for o, _, _ in opts]


def main():
    shelf, out = sys.argv[1], sys.argv[2]
    date = datetime.date.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or
                                       os.path.getmtime(shelf)).isoformat()
    os.makedirs(os.path.join(out, "man1"), exist_ok=True)
    os.makedirs(os.path.join(out, "completion"), exist_ok=True)
    cmds = commands(shelf)
    top = ['.TH "SHELF" 1 "%s" "shelf" "shelf manual"' % date, ".SH NAME",
           "shelf \\- product categorization for e-commerce catalogs", ".SH SYNOPSIS",
           ".B shelf \\fICOMMAND\\fR [\\fIoptions\\fR]", ".SH DESCRIPTION",
           "shelf learns a catalog's categories from its titles, descriptions and photos, and "
           "puts new products on the right shelf. Each command's options: "
           "\\fBshelf \\fICOMMAND\\fB \\-\\-help\\fR, or its page below.", ".SH COMMANDS"]
    options = {}
    for name, summary in cmds:
        page, opts = man_page(name, summary, run(shelf, name.split() + ["--help"]), date)
        options[name] = opts
        fname = "shelf-%s.1" % name.replace(" ", "-")
        with open(os.path.join(out, "man1", fname), "w") as f:
            f.write(page)
        top += [".TP", "\\fB%s\\fR" % roff(name), roff(summary)]
    top += [".SH SEE ALSO", ", ".join("\\fBshelf\\-%s\\fR(1)" % roff(n.replace(" ", "-")) for n, _ in cmds)]
    with open(os.path.join(out, "man1", "shelf.1"), "w") as f:
        f.write("\n".join(top) + "\n")
    # bash completion: the commands, then each command's options (files after the others)
    words = sorted({n.split()[0] for n, _ in cmds})
    case = []
    for name, opts in options.items():
        case.append('        "%s") opts="%s" ;;' % (name, " ".join(opts)))
    script = """# bash completion for shelf (made by scripts/make-docs.py from shelf's --help)
_shelf() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} opts
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%s --help" -- "$cur"))
        return
    fi
    [ "$cmd" = labels ] && [ "$COMP_CWORD" -eq 2 ] && { COMPREPLY=($(compgen -W "add" -- "$cur")); return; }
    [ "$cmd" = labels ] && cmd="labels ${COMP_WORDS[2]}"
    case "$cmd" in
%s
        *) opts="" ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _shelf shelf
""" % (" ".join(words), "\n".join(case))
    with open(os.path.join(out, "completion", "shelf"), "w") as f:
        f.write(script)


if __name__ == "__main__":
    main()
