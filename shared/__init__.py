"""Code shared by the booking, scheduler and notifier services: contracts, rules and plumbing."""
