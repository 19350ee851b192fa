"""The Helm chart (charts/image-mapper) with a real helm built from the Go module proxy."""
