"""What `extid install` puts into a clone and `extid uninstall` takes out, one piece per module.

- `attributes`: the `merge=extid` lines of `.gitattributes` (patterns git can read, whatever the
  state directory's path holds);
- `driver`: the `merge.extid.*` config, a command that runs the extid that installed it or
  ends the merge as a visible conflict;
- `hooks`: extid's git hook scripts, never chained onto pre-commit's;
- `precommit`: whether `.pre-commit-config.yaml` runs extid's hooks, and which scripts
  pre-commit generated.
"""
