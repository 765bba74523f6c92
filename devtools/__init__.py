"""Development and test tools: never shipped in the image (.dockerignore), never imported by `apps` or `project`."""
