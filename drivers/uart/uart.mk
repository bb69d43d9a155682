# drivers/uart/uart.mk - the 16550 serial driver (program `uart`), included
# by the top-level Makefile (its explicit list of fragments).
#
# uart.c is the server.  The console protocol's client library
# (abi/keel/console.h) is lib/console_client.c, in libkeel.a, linked by the
# driver's clients (consoled); the driver uses only its inline packing
# (keel/console_client.h).

$(eval $(call user_prog,uart,drivers/uart/uart.c))
SERVERS += uart
