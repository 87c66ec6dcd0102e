"""Copy a pip-compile lock from stdin to stdout without the named packages (and their hashes).

Used by the Dockerfile, which installs torch from PyTorch's CPU index instead of the hash this
machine's local CPU wheel has in the lock:  python requirements/without.py torch < lock.txt
"""

import re
import sys

skip = {name.lower() for name in sys.argv[1:]}
keep = True
for line in sys.stdin:
    match = re.match(r"^([A-Za-z0-9_.-]+)==", line)
    if match:
        keep = match.group(1).lower() not in skip
    elif not line.startswith((" ", "\t")):
        keep = True
    if keep:
        sys.stdout.write(line)
