"""The odweights pipeline factory and its runners (imported as `odweights.pipelines`)."""
