"""The systems users would pick instead, driven through the interface their users use."""
