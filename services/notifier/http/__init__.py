"""The notifier's HTTP views: thin translations between HTTP and the handlers."""
