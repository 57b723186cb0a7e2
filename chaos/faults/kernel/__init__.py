"""Kernel-level faults for the network-namespace backend: nftables loss, tc link capacity."""
