# The NIC test client (tests/nic): answers ARP/ICMP and echoes test frames.
$(eval $(call user_prog,nicecho,tests/nic/nicecho.c))
SERVERS += nicecho
$(eval $(call user_prog,rngtest,tests/nic/rngtest.c))
SERVERS += rngtest
