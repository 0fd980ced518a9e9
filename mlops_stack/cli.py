"""The `mlops-stack` command: new, update and check."""

import argparse
import sys
from pathlib import Path

from mlops_stack.answers import parse_assignments
from mlops_stack.check import check
from mlops_stack.errors import UserError
from mlops_stack.git import GitError
from mlops_stack.new import new
from mlops_stack.update import abort_update, continue_update, update

ANSWERS_HELP = "answers to set, e.g. cloud=aws include_monitoring=yes"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-stack",
        description="Create projects from the mlops-stack template and keep them up to date.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "new", help="create a project, checking the answers first and recording its origin"
    )
    create.add_argument("template", help="local git checkout or git URL of the template")
    create.add_argument("answers", nargs="*", metavar="NAME=VALUE", help=ANSWERS_HELP)
    create.add_argument("-o", "--output-dir", default=".", help="where to create the project")
    create.add_argument("--no-input", action="store_true", help="do not prompt; use the defaults")
    create.add_argument("--config-file", help="cookiecutter config file (with default_context)")
    create.add_argument("--checkout", help="template branch, tag or commit (default: HEAD)")
    create.add_argument(
        "--template-source",
        metavar="URL",
        help="record this as the template's source instead of the local path given",
    )

    upgrade = commands.add_parser(
        "update", help="bring the project in the current directory to a newer template version"
    )
    upgrade.add_argument("answers", nargs="*", metavar="NAME=VALUE", help=ANSWERS_HELP)
    upgrade.add_argument("--to", metavar="REF", help="template branch, tag or commit")
    upgrade.add_argument(
        "--template", metavar="PATH_OR_URL", help="read the template from here this time"
    )
    step = upgrade.add_mutually_exclusive_group()
    step.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="record the update once its conflicts are resolved",
    )
    step.add_argument("--abort", action="store_true", help="undo an update that left conflicts")

    status = commands.add_parser(
        "check", help="exit 1 when the project in the current directory is behind its template"
    )
    status.add_argument("--to", metavar="REF", help="template branch, tag or commit")
    status.add_argument("--template", metavar="PATH_OR_URL", help="read the template from here")
    return parser


def run(args: argparse.Namespace) -> int:
    here = Path.cwd()
    if args.command == "new":
        return new(
            args.template,
            parse_assignments(args.answers),
            output_dir=args.output_dir,
            no_input=args.no_input,
            config_file=args.config_file,
            checkout=args.checkout,
            template_source=args.template_source,
        )
    if args.command == "check":
        return check(here, args.to, args.template)
    if args.resume or args.abort:
        if args.answers or args.to or args.template:
            raise UserError("--continue and --abort take no answers, --to or --template")
        return continue_update(here) if args.resume else abort_update(here)
    return update(here, parse_assignments(args.answers), args.to, args.template)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Answers may come before or after the options: argparse leaves the later ones unparsed.
    args, rest = parser.parse_known_args(argv)
    options = [item for item in rest if item.startswith("-")]
    if options:
        parser.error(f"unrecognized arguments: {' '.join(options)}")
    args.answers = [*getattr(args, "answers", []), *rest]
    try:
        return run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except GitError as error:
        print(f"error: git failed: {error.detail}", file=sys.stderr)
        return 1
    except OSError as error:  # the file system refused: a path to fix, not a fault to report
        where = f": {error.filename}" if error.filename else ""
        print(
            f"error: {error.strerror or error}{where} (check the path and its permissions)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
