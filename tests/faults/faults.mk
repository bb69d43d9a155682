# The fault injector of test boots (tests/faults/faultd.c): started only
# when the kernel command line has `faults` (image/manifest).
$(eval $(call user_prog,faultd,tests/faults/faultd.c))
SERVERS += faultd
