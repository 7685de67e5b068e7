/** Samples kept in a preallocated array, so recording one costs no allocation in the hot path. */
export class Samples {
	private values: Float64Array
	count = 0
	/** Samples that did not fit; counted, so a report can say the percentiles are of a prefix. */
	overflow = 0

	constructor(capacity: number) {
		this.values = new Float64Array(capacity)
	}

	add(value: number) {
		if (this.count < this.values.length) this.values[this.count++] = value
		else this.overflow++
	}

	summary(): Summary {
		const sorted = this.values.slice(0, this.count).sort()
		return summarize(sorted, this.overflow)
	}
}

export interface Summary {
	n: number
	p50: number
	p90: number
	p99: number
	max: number
	overflow: number
}

export function summarize(sorted: Float64Array | number[], overflow = 0): Summary {
	const at = (q: number) =>
		sorted.length === 0
			? Number.NaN
			: sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
	return {
		n: sorted.length,
		p50: at(0.5),
		p90: at(0.9),
		p99: at(0.99),
		max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
		overflow,
	}
}

export const median = (values: number[]) => summarize([...values].sort((a, b) => a - b)).p50
