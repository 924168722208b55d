"""Region machinery shared by the methods: box geometry, proposals, scoring, grouping, fusion."""
