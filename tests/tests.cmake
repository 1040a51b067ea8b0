# Registered tests. Python tests run with Debian's /usr/bin/python3 (torch, numpy).
set(IG_PY /usr/bin/python3)
set(IG_CLI $<TARGET_FILE:inrgan>)
