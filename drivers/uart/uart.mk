# drivers/uart/uart.mk - the 16550 serial driver (program `uart`), included
# by the top-level Makefile (-include drivers/*/*.mk).
#
# uart.c is the server; console_client.c is the console protocol's client
# library (abi/keel/console.h), linked by the driver's clients (consoled),
# never by the driver.  UART_CLIENT_SRCS names it for their programs.

$(eval $(call user_prog,uart,drivers/uart/uart.c))
SERVERS += uart

UART_CLIENT_SRCS := drivers/uart/console_client.c
UART_CLIENT_CPPFLAGS := -Idrivers/uart
