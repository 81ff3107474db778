import { PageHeader } from "@/components/page";

export default function Models() {
  return <PageHeader title="Models" description="Coming in the next slice." />;
}
